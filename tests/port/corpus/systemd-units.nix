# A one-machine NixOS test of systemd units, users and files, in the style of nixpkgs' systemd
# tests (written for attest's corpus). Runs on the Debian systemd guest in attest's VM suite.
import ./make-test-python.nix ({ pkgs, ... }: {
  name = "systemd-units";

  nodes.machine = { pkgs, ... }: {
    systemd.services.hello = {
      wantedBy = [ "multi-user.target" ];
      serviceConfig.ExecStart = "${pkgs.coreutils}/bin/sleep infinity";
    };
  };

  testScript = ''
    import json
    import re

    machine.start()
    machine.wait_for_unit("multi-user.target")

    with subtest("a transient unit runs and stops"):
        machine.succeed("systemd-run --unit=hello-attest sleep 600")
        machine.wait_for_unit("hello-attest.service", timeout=60)
        info = machine.get_unit_info("hello-attest.service")
        assert info["ActiveState"] == "active"
        assert machine.get_unit_property("hello-attest.service", "SubState") == "running"
        machine.require_unit_state("hello-attest.service", "active")
        machine.stop_job("hello-attest.service")
        machine.wait_until_fails("systemctl is-active hello-attest.service")

    units = json.loads(machine.succeed("systemctl list-units --type=service --output=json"))
    names = [u["unit"] for u in units]
    assert "systemd-journald.service" in names
    active = 0
    for u in units:
        if u["active"] == "active":
            active += 1
    print("%d of %d services active" % (active, len(units)))
    assert active > 0

    with subtest("users get their homes"):
        for user in ["carol", "dave"]:
            machine.succeed("useradd -m %s" % user)
            home = machine.succeed("getent passwd %s" % user).split(":")[5]
            if home != "/home/" + user:
                raise Exception("wrong home for {}: {}".format(user, home))
            else:
                machine.log(f"{user} lives in {home}")

    machine.succeed(
        """
        echo 'Welcome to the test' > /etc/motd-attest
        sync /etc/motd-attest
        """
    )
    machine.wait_for_file("/etc/motd-attest")
    motd = machine.succeed("cat /etc/motd-attest")
    assert motd.strip().startswith("Welcome"), motd
    assert motd.rstrip()[-4:] == "test"
    pattern = r"^\s*Welcome"
    assert re.match(pattern, motd) is not None

    status, _ = machine.execute("test -e /nonexistent")
    assert status != 0
    output = machine.execute("echo partial; false", check_return=False)[1]
    assert output == "partial\n"
    count = int(machine.succeed("ls / | wc -l"))
    assert count >= 10, str(count) + " entries in /"
    n = 0
    while n < 3:
        n += 1
        if n == 2:
            continue
        machine.succeed(f"touch /tmp/file-{n}")
    machine.succeed("test -e /tmp/file-1", "test -e /tmp/file-3")
    machine.fail("test -e /tmp/file-2")

    machine.wait_until_succeeds("systemctl is-system-running --wait || true", timeout=120)
    machine.shutdown()
  '';
})
