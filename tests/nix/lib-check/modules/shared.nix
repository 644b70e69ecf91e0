# Imported twice by the lib-check cases: its definitions must count once.
{
  items = [ "shared" ];
}
