# A two-machine NixOS test in the style of nixpkgs' nginx tests (written for attest's corpus):
# a web server and a client on one vlan. attest's VM suite runs its translation on the Debian
# systemd guest (tests/port/meson.build).
import ./make-test-python.nix ({ pkgs, lib, ... }: {
  name = "nginx-two-node";
  meta.maintainers = [ ];

  nodes = {
    server = { pkgs, ... }: {
      services.nginx.enable = true;
      networking.firewall.allowedTCPPorts = [ 80 ];
    };
    client = { pkgs, ... }: {
      environment.systemPackages = [ pkgs.curl ];
    };
  };

  testScript = { nodes, ... }: ''
    import json
    import re
    import time

    start_all()
    server.wait_for_unit("nginx.service", timeout=120)
    server.wait_for_open_port(80)

    @polling_condition(seconds_interval=5)
    def nginx_running():
        server.succeed("pgrep -x nginx")

    with subtest("the client fetches the default page"):
        page = client.succeed("curl --fail -sS --max-time 20 http://server/")
        assert "nginx" in page, f"unexpected page: {page}"
        lines = page.strip().splitlines()
        assert len(lines) > 3

    # The page stays readable after the subtest, as in Python.
    title = [l for l in lines if "<title>" in l][0]
    print(f"title line: {title.strip()}")

    for m in [server, client]:
        m.succeed("true", "echo two")
        status, out = m.execute("hostname", check_return=True)
        assert status == 0
        assert out.strip() == m.name, f"{m.name} says it is {out.strip()}"

    def check_reachable(host, port):
        client.wait_until_succeeds(f"nc -z {host} {port}", timeout=30)

    check_reachable("server", 80)

    with nginx_running:
        addresses = json.loads(server.succeed("ip -j addr show dev eth1"))
        ipv4 = [a["local"] for a in addresses[0]["addr_info"] if a["family"] == "inet"]
        assert ipv4[0] == "192.168.1.2", "server's address: " + ipv4[0]
        version = server.succeed("nginx -v 2>&1")
        match = re.search(r"nginx/(?P<major>\d+)\.(?P<minor>\d+)", version)
        assert match, f"no version in {version}"
        assert int(match.group("major")) >= 1

    retry(lambda last_try: client.execute("curl -sf http://server/ >/dev/null")[0] == 0, timeout=30)
    time.sleep(1)

    with server.nested("stopping nginx"):
        server.systemctl("stop nginx")
        server.wait_for_closed_port(80)
        client.fail("curl -sf --max-time 5 http://server/")

    for m in machines:
        m.shutdown()
  '';
})
