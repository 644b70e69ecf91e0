# Stand-in written for attest's CI (not nixpkgs code): nixos/modules/config/users-groups.nix.
#
# Models: users.users.<name> (name, uid, isNormalUser, isSystemUser, group, extraGroups,
# description, home (/home/<name> for normal users, /var/empty otherwise), createHome, shell,
# password / hashedPassword / hashedPasswordFile / initialPassword / initialHashedPassword,
# packages, openssh.authorizedKeys.keys, plus free-form), users.groups.<name> (name, gid,
# members), users.mutableUsers, users.defaultUserShell, and the root user and group; the users
# and their settings reach system.build.toplevel.
# Leaves out: uid/gid allocation, the sysusers/activation machinery, /etc/passwd, and the
# assertions on users (e.g. that a normal user has a group).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.users;
  inherit (lib) mkOption types;
  nullStr = mkOption {
    type = types.nullOr types.str;
    default = null;
  };

  userType = types.submodule (
    { name, config, ... }:
    {
      freeformType = types.attrsOf types.anything;
      options = {
        name = mkOption {
          type = types.str;
          default = name;
        };
        uid = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        isNormalUser = mkOption {
          type = types.bool;
          default = false;
        };
        isSystemUser = mkOption {
          type = types.bool;
          default = false;
        };
        group = mkOption {
          type = types.str;
          default = "";
        };
        extraGroups = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        description = mkOption {
          type = types.str;
          default = "";
        };
        home = mkOption {
          type = types.str;
          default = if config.isNormalUser then "/home/${config.name}" else "/var/empty";
        };
        createHome = mkOption {
          type = types.bool;
          default = config.isNormalUser;
        };
        shell = mkOption {
          type = types.nullOr (types.either types.package types.str);
          default = "/run/current-system/sw/bin/nologin";
        };
        password = nullStr;
        hashedPassword = nullStr;
        hashedPasswordFile = nullStr;
        initialPassword = nullStr;
        initialHashedPassword = nullStr;
        packages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        openssh.authorizedKeys.keys = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
      };
    }
  );

  groupType = types.submodule (
    { name, ... }:
    {
      freeformType = types.attrsOf types.anything;
      options = {
        name = mkOption {
          type = types.str;
          default = name;
        };
        gid = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        members = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
      };
    }
  );
in
{
  options.users = {
    users = mkOption {
      type = types.attrsOf userType;
      default = { };
    };
    groups = mkOption {
      type = types.attrsOf groupType;
      default = { };
    };
    mutableUsers = mkOption {
      type = types.bool;
      default = true;
    };
    defaultUserShell = mkOption {
      type = types.either types.package types.str;
      default = pkgs.bashInteractive;
    };
  };

  config.users = {
    users.root = {
      uid = 0;
      description = "System administrator";
      home = "/root";
      shell = lib.mkDefault cfg.defaultUserShell;
      group = "root";
    };
    groups.root.gid = 0;
    groups.wheel.gid = 1;
  };
}
