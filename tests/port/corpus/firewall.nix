# A three-machine firewall test in the style of nixpkgs' firewall test (written for attest's
# corpus): blocking links, ports, waits with time limits, Nix antiquotations in the script.
import ./make-test-python.nix ({ pkgs, ... }: {
  name = "firewall";
  nodes = {
    walled = { ... }: {
      networking.firewall.enable = true;
      networking.firewall.allowedTCPPorts = [ 22 ];
      services.httpd.enable = true;
    };
    attacker = { ... }: { services.httpd.enable = true; };
    "web-proxy" = { ... }: { };
  };

  testScript = { nodes, ... }: let
    walledIP = nodes.walled.networking.primaryIPAddress;
  in ''
    start_all()

    walled.wait_for_unit("firewall")
    walled.wait_for_unit("httpd")
    attacker.wait_for_unit("network.target")
    web_proxy.wait_for_unit("network.target")

    # Local connections are allowed; the attacker's are not.
    walled.succeed("curl -v http://localhost/ >&2")
    attacker.fail("curl --fail --connect-timeout 2 http://walled/ >&2")
    walled.succeed("ping -c 1 attacker >&2")

    for port in [22, 80]:
        state = "open" if port == 22 else "filtered"
        result = attacker.execute(f"nc -z -w 2 walled {port}")[0]
        machine_says = "reachable" if result == 0 else "not reachable"
        walled.log(f"port {port} ({state}) is {machine_says}")

    with subtest("a blocked link drops everything"):
        walled.block()
        attacker.wait_until_fails("ping -c 1 -W 1 ${walledIP}", timeout=30)
        walled.unblock()
        attacker.wait_until_succeeds("ping -c 1 -W 1 ${walledIP}", timeout=60)

    walled.succeed("systemctl stop firewall")
    attacker.succeed("curl --fail --connect-timeout 2 http://walled/ >&2")
    walled.wait_for_open_port(80, timeout=10)
    walled.succeed("systemctl start firewall")
    rules = walled.succeed("iptables -L -n")
    assert rules.count("ACCEPT") > 1
    for i, line in enumerate(rules.splitlines()):
        if "DROP" in line:
            print(i, line)
    web_proxy.forward_port(8080, 80)
    join_all()
  '';
})
