# Stand-in written for attest's CI (not nixpkgs code): the `utils` module argument of the
# stand-in NixOS modules (nixos/lib/utils.nix in nixpkgs).
#
# Models: pathsNeededForBoot, fsNeededForBoot (neededForBoot or a path stage 1 must mount),
# escapeSystemdPath (as systemd-escape --path for the common characters) and toShellPath.
# Leaves out: systemdUtils (unit generation lives in ./systemd-lib.nix here), genJqSecretsReplacement
# and the other helpers.
{ lib }:
rec {
  pathsNeededForBoot = [
    "/"
    "/nix"
    "/nix/store"
    "/var"
    "/var/log"
    "/var/lib"
    "/var/lib/nixos"
    "/etc"
    "/usr"
  ];

  fsNeededForBoot = fs: fs.neededForBoot || builtins.elem fs.mountPoint pathsNeededForBoot;

  escapeSystemdPath =
    s:
    let
      trimmed = lib.removeSuffix "/" (lib.removePrefix "/" s);
    in
    if s == "/" then
      "-"
    else
      builtins.replaceStrings [ "/" ] [ "-" ] (
        builtins.replaceStrings [ "-" " " ] [ "\\x2d" "\\x20" ] trimmed
      );

  toShellPath = p: if builtins.isPath p then toString p else p;
}
