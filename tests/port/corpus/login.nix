# A console login test in the style of nixpkgs' login test (written for attest's corpus): ttys,
# keys, screenshots. Compiled in CI; its guest needs a getty, which attest's test guests lack.
{ pkgs, lib, ... }:
{
  name = "login";
  nodes.machine = { pkgs, lib, ... }: {
    users.users.alice = { isNormalUser = true; initialPassword = "foobar"; };
  };

  testScript = ''
    machine.start(allow_reboot=True)
    machine.wait_for_unit("multi-user.target")
    machine.wait_until_succeeds("pgrep -f 'agetty.*tty1'")
    machine.screenshot("postboot")

    with subtest("log in as alice on a virtual console"):
        machine.wait_until_tty_matches("1", "login: ")
        machine.send_chars("alice\n")
        machine.wait_until_tty_matches("1", "login: alice")
        machine.wait_until_succeeds("pgrep login")
        machine.wait_until_tty_matches("1", "Password: ")
        machine.send_chars("foobar\n")
        machine.wait_until_succeeds("pgrep -u alice bash")
        machine.send_chars("touch done\n")
        machine.wait_for_file("/home/alice/done")

    with subtest("virtual console switching"):
        machine.send_key("alt-f2")
        machine.wait_until_succeeds("[ $(fgconsole) = 2 ]")
        machine.wait_for_unit("getty@tty2.service")
        machine.wait_until_succeeds("pgrep -f 'agetty.*tty2'")
        text = machine.get_tty_text("2")
        assert "login:" in text, text

    with subtest("systemd-logind sees the session"):
        sessions = machine.succeed("loginctl list-sessions --no-legend").splitlines()
        assert len(sessions) >= 1
        for line in sessions:
            fields = line.split()
            print(fields[0], fields[2])

    with subtest("ctrl-alt-delete reboots"):
        machine.reboot()
        machine.wait_for_unit("multi-user.target")
        machine.wait_for_console_text("Reached target.*Multi-User", timeout=120)

    machine.send_key("ctrl-alt-delete", delay=0.1, log=False)
    machine.wait_for_shutdown()
  '';
}
