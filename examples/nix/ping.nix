# The seed's network example with the testScript in C++: two nodes on one vlan reach each other
# by name. Networking is on by itself with several nodes; alice is 192.168.1.1 and bob
# 192.168.1.2 (alphabetical order). In a flake (docs/nix.md):
#   checks.x86_64-linux.ping = import ./ping.nix {
#     inherit pkgs;
#     attest = attest.packages.x86_64-linux.default;
#     makeTest = import "${attest}/nix/firecracker/make-test.nix";
#   };
# CI compiles this very testScript with `attest gen` and runs it on two Debian minimal guests.
{
  pkgs,
  attest,
  makeTest ? import ../../nix/firecracker/make-test.nix,
}:
makeTest {
  inherit pkgs attest;
  name = "network-test";
  splitStore = true;
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
    // alice is 192.168.1.1, bob is 192.168.1.2 (alphabetical order). start_all() does not wait
    // for the guests (as in NixOS): the first ping retries until bob is up.
    alice.wait_until_succeeds("ping -c 1 bob");
    bob.succeed("ping -c 1 alice");
    EXPECT_THAT(alice.succeed("cat /etc/hosts"), HasSubstr("192.168.1.2 bob"));
  '';
}
