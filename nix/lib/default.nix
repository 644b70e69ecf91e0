# attest's pure Nix logic, builtins only (no nixpkgs): the test network, the machine entries, the
# driver's configuration and the generator's input. The make-test functions build on it; CI
# evaluates it with `nix-instantiate --eval --strict --json` (tests/nix/).
{
  network = import ./network.nix;
  machines = import ./machines.nix;
  config = import ./config.nix;
  script = import ./script.nix;
}
