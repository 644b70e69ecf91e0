# The seed's network example as a test module, with the testScript in C++: two nodes on vlan 1
# (every node's default, as in NixOS tests) reach each other by name; alice is 192.168.1.1 and
# bob 192.168.1.2 (alphabetical order). In a flake (docs/nix.md):
#   checks.x86_64-linux.ping = attest.lib.runTest pkgs ./ping.nix;
# CI compiles this very testScript with `attest gen` and runs it on two Debian minimal guests.
{
  name = "network-test";
  attest.splitStore = true;
  nodes = {
    alice =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.iputils ];
      };
    bob =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.iputils ];
      };
  };
  testScript = ''
    start_all();
    // start_all() does not wait for the guests (as in NixOS): the first ping retries until bob
    // is up.
    alice.wait_until_succeeds("ping -c 1 bob");
    bob.succeed("ping -c 1 alice");
    EXPECT_THAT(alice.succeed("cat /etc/hosts"), HasSubstr("192.168.1.2 bob"));
  '';
}
