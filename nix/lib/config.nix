# The driver's test configuration (docs/config.md), the file every attest test binary reads with
# `--config`, as an attribute set: `builtins.toJSON` of it is the JSON the non-Nix path writes by
# hand. builtins only: CI evaluates it with `nix-instantiate --eval --strict --json`.
let
  net = import ./network.nix;
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    isAttrs
    listToAttrs
    removeAttrs
    ;

  # Drops the fields left null, so that the driver's defaults apply.
  compact = attrs: removeAttrs attrs (filter (k: attrs.${k} == null) (attrNames attrs));

  backends = [
    "qemu"
    "firecracker"
    "cloud-hypervisor"
  ];
in
rec {
  # Whether the test has a network: `enableNetwork` when set, else on, as in NixOS tests (every
  # node is on vlan 1 by default, also alone).
  networkEnabled = { enableNetwork ? null }: enableNetwork != false;

  # The vlans of each node: its own (`nodeVlans.<name>`) or the test's `vlans`, when the network
  # is on; none when it is off.
  vlansOf =
    {
      nodeNames,
      enableNetwork ? null,
      vlans ? [ 1 ],
      nodeVlans ? { },
    }:
    let
      on = networkEnabled { inherit enableNetwork; };
    in
    listToAttrs (
      map (name: {
        inherit name;
        value = if on then nodeVlans.${name} or vlans else [ ];
      }) nodeNames
    );

  # The whole configuration.
  #   name           the test's name
  #   machines       { <node> = { <machine fields of docs/config.md, snake_case> }; }
  #                  (`name` and `vlans` are filled in here)
  #   vlansOf        { <node> = [ vlans ]; } (see vlansOf above)
  #   globalTimeout  seconds
  #   network        "auto", "vde" or "tap"
  mkConfig =
    {
      name,
      machines,
      vlansOf,
      globalTimeout ? 3600,
      network ? "auto",
    }:
    let
      nodeNames = attrNames machines; # sorted, as the driver numbers them
      layout = net.layout vlansOf;
      vlans = net.vlans layout;
      bad = filter (n: !(isAttrs machines.${n})) nodeNames;
      badBackends = filter (n: !(builtins.elem (machines.${n}.backend or "qemu") backends)) nodeNames;
    in
    if nodeNames == [ ] then
      throw "attest: test '${name}': no nodes (a test needs at least one machine)"
    else if bad != [ ] then
      throw "attest: test '${name}': node '${builtins.head bad}': expected an attribute set of machine fields"
    else if badBackends != [ ] then
      throw "attest: test '${name}': node '${builtins.head badBackends}': unknown backend '${
        machines.${builtins.head badBackends}.backend
      }' (known: ${concatStringsSep ", " backends})"
    else
      compact {
        inherit name network;
        global_timeout = globalTimeout;
        vlans = if vlans == [ ] then null else vlans;
        machines = map (
          n:
          compact (
            machines.${n}
            // {
              name = n;
              vlans = map (i: i.vlan) layout.${n}.interfaces;
            }
          )
        ) nodeNames;
      };
}
