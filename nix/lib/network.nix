# The test network as NixOS lays it out (nixpkgs nixos/lib/testing/network.nix) and as the driver
# does for direct-boot guests (lib/net/plan.cpp): nodes are numbered from 1 in the alphabetical
# order of their names; on vlan v node n has 192.168.v.n/24, 2001:db8:v::n/64 (the numbers as
# decimal text, as NixOS's toString writes them) and the MAC 52:54:00:12:vv:nn (hex); vlan
# `vlans[k-1]` of a node is its eth<k>; /etc/hosts names every node by its first vlan's
# addresses.
#
# builtins only (no nixpkgs), so that it evaluates anywhere: CI checks it with
# `nix-instantiate --eval --strict --json` against the values the C++ driver computes.
let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    elem
    elemAt
    filter
    foldl'
    genList
    head
    length
    lessThan
    listToAttrs
    mapAttrs
    sort
    substring
    ;

  maxNodes = 254;
  maxVlan = 254;

  hexDigits = "0123456789abcdef";
  hex2 = n: substring (n / 16) 1 hexDigits + substring (n - n / 16 * 16) 1 hexDigits;

  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];

  checkVlan =
    node: v:
    if !(builtins.isInt v) then
      throw "attest: node '${node}': vlan ${builtins.toJSON v} is not an integer"
    else if v < 1 || v > maxVlan then
      throw "attest: node '${node}': vlan ${toString v} is out of range (1..${toString maxVlan})"
    else
      v;
in
rec {
  inherit maxNodes maxVlan unique;

  mac = vlan: node: "52:54:00:12:${hex2 vlan}:${hex2 node}";
  ipv4 = vlan: node: "192.168.${toString vlan}.${toString node}";
  ipv6 = vlan: node: "2001:db8:${toString vlan}::${toString node}";

  # [ "bob" "alice" ] -> { alice = 1; bob = 2; }
  nodeNumbers =
    names:
    let
      sorted = sort lessThan names;
      n = length sorted;
    in
    if n > maxNodes then
      throw "attest: ${toString n} nodes, but a test can have at most ${toString maxNodes} (the node number is the last byte of every address)"
    else
      listToAttrs (
        genList (i: {
          name = elemAt sorted i;
          value = i + 1;
        }) n
      );

  # The interfaces of node number `number` on `vlans` (in interface order).
  interfaces =
    node: number: vlans:
    let
      checked = map (checkVlan node) vlans;
    in
    if length (unique checked) != length checked then
      throw "attest: node '${node}': a vlan is listed twice in ${builtins.toJSON vlans}"
    else
      genList (
        i:
        let
          v = elemAt checked i;
        in
        {
          index = i + 1;
          name = "eth${toString (i + 1)}";
          vlan = v;
          mac = mac v number;
          ipv4 = ipv4 v number;
          ipv6 = ipv6 v number;
        }
      ) (length checked);

  # { alice = [ 1 ]; bob = [ 1 2 ]; } -> { alice = { number = 1; interfaces = [ ... ]; }; ... }
  layout =
    vlansOf:
    let
      numbers = nodeNumbers (attrNames vlansOf);
    in
    mapAttrs (name: vlans: {
      number = numbers.${name};
      interfaces = interfaces name numbers.${name} vlans;
    }) vlansOf;

  # The vlans some node of a layout is on, sorted.
  vlans = layout: sort lessThan (unique (concatMap (n: map (i: i.vlan) layout.${n}.interfaces) (attrNames layout)));

  # The /etc/hosts lines naming each node on a vlan by its first vlan's addresses (NixOS's
  # primaryIPAddress), in the alphabetical order of the names.
  nodeHosts =
    layout:
    concatStringsSep "" (
      map (
        name:
        let
          first = head layout.${name}.interfaces;
        in
        "${first.ipv4} ${name}\n${first.ipv6} ${name}\n"
      ) (filter (name: layout.${name}.interfaces != [ ]) (attrNames layout))
    );

  # The whole /etc/hosts the driver writes into a direct-boot guest.
  hosts = layout: "127.0.0.1 localhost\n::1 localhost\n" + nodeHosts layout;
}
