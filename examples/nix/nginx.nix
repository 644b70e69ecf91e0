# The seed's quick start as a test module of nixpkgs' test framework, with the testScript in C++:
# a server runs nginx; wait for the unit and the port, fetch the page. In a flake (docs/nix.md):
#   checks.x86_64-linux.nginx = attest.lib.runTest pkgs ./nginx.nix;
# or, on Firecracker: attest.lib.runTest pkgs { imports = [ ./nginx.nix ]; attest.backend = "firecracker"; }
# CI compiles this very testScript with `attest gen` and runs it on the Debian systemd guest.
{
  name = "nginx";
  attest.splitStore = true;
  nodes.server =
    { pkgs, ... }:
    {
      services.nginx.enable = true;
      networking.firewall.allowedTCPPorts = [ 80 ];
      environment.systemPackages = [ pkgs.curl ];
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
