# The seed's quick start with the testScript in C++: a server runs nginx; wait for the unit and
# the port, fetch the page. In a flake (docs/nix.md):
#   checks.x86_64-linux.nginx = import ./nginx.nix {
#     inherit pkgs;
#     attest = attest.packages.x86_64-linux.default;
#     makeTest = import "${attest}/nix/firecracker/make-test.nix";
#   };
# CI compiles this very testScript with `attest gen` and runs it on the Debian systemd guest.
{
  pkgs,
  attest,
  makeTest ? import ../../nix/firecracker/make-test.nix,
}:
makeTest {
  inherit pkgs attest;
  name = "nginx";
  splitStore = true;
  nodes = {
    server =
      { pkgs, ... }:
      {
        services.nginx.enable = true;
        networking.firewall.allowedTCPPorts = [ 80 ];
        environment.systemPackages = [ pkgs.curl ];
      };
  };
  testScript = ''
    start_all();
    server.wait_for_unit("nginx.service");
    server.wait_for_open_port(80);
    const auto output = server.succeed("curl -s http://localhost");
    std::cout << "got: " << output;
    EXPECT_THAT(output, HasSubstr("Welcome to nginx!"));
  '';
}
