# The text of the driver's `bin/nixos-test-driver` (./driver.nix), a function of paths given as
# strings, so that CI runs the very script with its own build of attest and a Debian guest
# (tests/nix/driver). It takes the NixOS test driver's command line (what `vm-test-run-<name>`,
# `.driver`, `.driverInteractive` and users pass it):
#   -o, --output_directory DIR  console logs, log.txt, junit.xml (default: the current directory)
#   -I, --interactive           `attest shell` on the machines instead of the test (NixOS's REPL)
#   -K, --keep-vm-state         keep the machines' disks for the next run
#   -g, --global-timeout S      the whole run's limit
#   --log-level LEVEL           debug, info, warning or error
#   --dump-vsocks=OFFSET        (sshBackdoor) print how to reach each node over vsock
# Anything else goes to the test program: GoogleTest's flags (--gtest_filter=...) and attest's
# own (--per-test-restore, --no-serial, ...).
{
  lib,
  name,
  # The test program and the `attest` tool (for --interactive).
  program,
  attestTool,
  # The driver's JSON configuration.
  configFile,
  # The machines' names in the driver's order (for --dump-vsocks).
  nodeNames,
  # Arguments before the caller's (the framework's extraDriverArgs and attest's options).
  extraDriverArgs ? [ ],
  # Directories put in front of PATH (VMMs, vde_switch, qemu-img, OCR tools).
  binPath ? "",
  # The machines are on TAP devices: /dev/net/tun must be there.
  needsTun ? false,
}:
let
  vsockHints = lib.concatImapStrings (
    i: node: ''echo "attest: ${node}: ssh -o User=root vsock/$((${toString i} + $1))"'' + "\n"
  ) nodeNames;
in
''
  set -euo pipefail
  ${lib.optionalString (binPath != "") "export PATH=${binPath}\${PATH:+:$PATH}"}

  dump_vsocks() {
    ${vsockHints}
  }

  out=""
  interactive=""
  args=()
  set -- ${lib.escapeShellArgs extraDriverArgs} "$@"
  while (($# > 0)); do
    case $1 in
      -o | --output_directory | --output-directory) out=$2; shift 2 ;;
      --output_directory=* | --output-directory=*) out=''${1#*=}; shift ;;
      -o?*) out=''${1#-o}; shift ;;
      -I | --interactive) interactive=1; shift ;;
      -K | --keep-vm-state) args+=(--keep-machine-state); shift ;;
      -g | --global-timeout) args+=(--global-timeout "$2"); shift 2 ;;
      --log-level) export ATTEST_LOG_LEVEL=$2; shift 2 ;;
      --log-level=*) export ATTEST_LOG_LEVEL=''${1#*=}; shift ;;
      --dump-vsocks=*) dump_vsocks "''${1#*=}"; shift ;;
      *) args+=("$1"); shift ;;
    esac
  done
  out=''${out:-$PWD}
  mkdir -p "$out"

  ${lib.optionalString needsTun ''
    if [[ ! -c /dev/net/tun ]]; then
      echo "attest: test '${name}' has a TAP network and there is no /dev/net/tun here;" >&2
      echo "attest: in the Nix build sandbox add it with nix.settings.extra-sandbox-paths = [ \"/dev/net/tun\" ] (docs/nix.md)" >&2
      exit 1
    fi
  ''}
  if [[ -n $interactive ]]; then
    exec ${attestTool} shell ${configFile} --output-dir "$out" "''${args[@]}"
  fi
  set +e
  ${program} --config ${configFile} --output-dir "$out" \
    --gtest_output="xml:$out/junit.xml" "''${args[@]}" 2>&1 | tee "$out/log.txt"
  exit "''${PIPESTATUS[0]}"
''
