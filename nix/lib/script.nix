# What `attest gen --spec` reads to write the test's C++ file (docs/nix.md): the test's name, its
# node names (each becomes an `attest::Machine&` variable of the test body) and the testScript,
# C++ statements. builtins only: CI evaluates it with `nix-instantiate --eval --strict --json`.
{
  genSpec =
    {
      name,
      nodeNames,
      testScript,
      testPrelude ? "",
    }:
    if !(builtins.isString testScript) then
      throw "attest: test '${name}': testScript must be a string of C++ statements, got a ${builtins.typeOf testScript}"
    else if !(builtins.isString testPrelude) then
      throw "attest: test '${name}': testPrelude must be a string of C++ declarations, got a ${builtins.typeOf testPrelude}"
    else
      {
        inherit name;
        nodes = builtins.sort builtins.lessThan nodeNames;
        script = testScript;
        script_name = "testScript";
        prelude = testPrelude;
      };
}
