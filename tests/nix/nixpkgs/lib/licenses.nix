# Stand-in for nixpkgs' lib.licenses, written for attest's CI (no nixpkgs there; see
# default.nix). Covers: mit and asl20, with the same attributes as the real ones.
# Leaves out: every other licence.
{ lib }:
let
  spdx =
    {
      spdxId,
      shortName,
      fullName,
    }:
    {
      inherit spdxId shortName fullName;
      url = "https://spdx.org/licenses/${spdxId}.html";
      deprecated = false;
      free = true;
      licenseType = "simple";
      redistributable = true;
    };
in
{
  mit = spdx {
    spdxId = "MIT";
    shortName = "mit";
    fullName = "MIT License";
  };
  asl20 = spdx {
    spdxId = "Apache-2.0";
    shortName = "asl20";
    fullName = "Apache License 2.0";
  };
}
