# Stand-in written for attest's CI (not nixpkgs code): nixos/lib/testing/testScript.nix.
#
# Models: testScript (a string, or a function called with only the arguments it names of
# { nodes }, as nixpkgs' apply does), testScriptString (read-only: the string, or the function's
# result with the nodes, where a node using a Nix store image is taken from
# withoutTestScriptReferences to avoid the cycle), includeTestScriptReferences,
# withoutTestScriptReferences (the test again with testScript "testscript omitted"), and the
# nodes' virtualisation.additionalPaths with writeStringReferencesToFile of the script when the
# node uses a store image and the script has a context.
# Leaves out: nothing.
testModuleArgs@{
  config,
  lib,
  hostPkgs,
  moduleType,
  ...
}:
let
  inherit (lib) mkOption types;
in
{
  options = {
    testScript = mkOption {
      type = types.either types.str (types.functionTo types.str);
      apply =
        v: if lib.isFunction v then args: v (builtins.intersectAttrs (lib.functionArgs v) args) else v;
      description = "The test script.";
    };
    testScriptString = mkOption {
      type = types.str;
      readOnly = true;
      internal = true;
    };
    includeTestScriptReferences = mkOption {
      type = types.bool;
      default = true;
      internal = true;
    };
    withoutTestScriptReferences = mkOption {
      type = moduleType;
      internal = true;
      visible = false;
      description = "The test with an invalid testScript that has no references.";
    };
  };

  config = {
    withoutTestScriptReferences.includeTestScriptReferences = false;
    withoutTestScriptReferences.testScript = lib.mkForce "testscript omitted";

    testScriptString =
      if lib.isFunction config.testScript then
        config.testScript {
          nodes = builtins.mapAttrs (
            name: node:
            if node.virtualisation.useNixStoreImage then
              config.withoutTestScriptReferences.nodesCompat.${name}
            else
              node
          ) config.nodesCompat;
        }
      else
        config.testScript;

    defaults =
      { config, ... }:
      {
        virtualisation.additionalPaths = lib.optional (
          (config.virtualisation.useNixStoreImage or false)
          && builtins.hasContext testModuleArgs.config.testScriptString
          && testModuleArgs.config.includeTestScriptReferences
        ) (hostPkgs.writeStringReferencesToFile testModuleArgs.config.testScriptString);
      };
  };
}
