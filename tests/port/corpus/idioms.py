# A bare Python testScript (no .nix around it) with the idioms of nixpkgs' test scripts that the
# other files of the corpus do not use. Compiled in CI.
import json
import re
import time

machine.start()
machine.wait_for_unit("multi-user.target")
machine.wait_for_unit("default.target", "alice")
machine.wait_for_open_port(8080, "127.0.0.1", 30)
machine.wait_for_open_unix_socket("/run/app.sock")
machine.wait_for_console_text("login:")
machine.wait_until_succeeds("test -e /run/ready")

@polling_condition
def app_up():
    "The app's socket stays"
    machine.succeed("test -S /run/app.sock")

@polling_condition(seconds_interval=1.5, description="the disk has room")
def disk_has_room():
    used = int(machine.succeed("df --output=pcent / | tail -1 | tr -d ' %'"))
    return used < 95

with app_up:
    with disk_has_room:
        machine.succeed("app --check")

banner = """
Welcome to
  the machine
"""
path = r"C:\not\a\path"
single = 'it\'s'
empty = ""
out = machine.execute("cat /etc/os-release", check_return=False)[1]
first = out.splitlines()[0]
name = "{} {}".format("os:", first[:5])
last_three = first[-3:]
words = first.split("=")
joined = ", ".join(words)
lower = joined.lower().replace(" ", "_")
machine.succeed(f"echo {name} {last_three!s} {len(words)}")
machine.succeed("echo %s %d %%" % (lower, 5))
assert first.startswith("PRETTY") or first.endswith('"')
assert not out.isspace()

user_homes = {"alice": "/home/alice", "bob": "/home/bob"}
for user, home in user_homes.items():
    machine.succeed(f"test -d {home} || mkdir -p {home}", f"chown {user} {home} || true")

retry(lambda last_try: machine.execute("true")[0] == 0, timeout=30)

def ready(last_try):
    status, _ = machine.execute("test -e /run/ready")
    if last_try:
        machine.log("last try")
    return status == 0

retry(ready)
machine.wait_until_tty_matches("1", "login: ")
machine.send_chars("root\n", delay=0.05)
machine.send_key("ctrl-alt-f2")
value = json.loads(machine.succeed("echo '{\"a\": [1, 2], \"b\": {\"c\": \"d\"}}'"))
assert value["a"][1] == 2
assert value["b"]["c"] == "d"
m = re.search(r"VERSION_ID=\"?(?P<v>[0-9.]+)", out)
if m:
    print("version", m.group("v"))
else:
    print("no version")
# Left for a person (sorted() needs a type): the names it sets still compile where used.
mounts = sorted(machine.succeed("mount").splitlines())
assert len(mounts) > 0
for mount in mounts:
    print(mount)
x = 1
x += 1
x = x * 2 - 1
assert x == 3
assert 1 < x <= 3
time.sleep(0.5)
machine.sleep(2)
t.assertEqual(x, 3)
t.assertIn("PRETTY", out)
t.assertTrue(len(out) > 0, "empty os-release")
with machine.nested("cleaning up"):
    machine.succeed("rm -rf /tmp/*")
serial_stdout_off()
machine.copy_from_host("/etc/hostname", "/tmp/host-hostname")
machine.copy_from_vm("/etc/os-release")
machine.execute("sync")
machine.crash()
