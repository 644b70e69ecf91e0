{
  description = "attest: NixOS-style VM integration tests written in C++ (QEMU, Firecracker, cloud-hypervisor)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems =
        f:
        nixpkgs.lib.genAttrs systems (
          system:
          f (
            import nixpkgs {
              inherit system;
              overlays = [ self.overlays.default ];
            }
          )
        );

      makeTests = {
        qemu = import ./nix/make-test.nix;
        firecracker = import ./nix/firecracker/make-test.nix;
        cloud-hypervisor = import ./nix/cloud-hypervisor/make-test.nix;
      };

      # The seed's examples as tests of each backend: nginx-qemu, ping-firecracker, ...
      exampleTests =
        pkgs:
        nixpkgs.lib.concatMapAttrs (
          backend: makeTest:
          nixpkgs.lib.mapAttrs' (example: file: {
            name = "${example}-${backend}";
            value = import file {
              inherit pkgs makeTest;
              inherit (pkgs) attest;
            };
          }) {
            nginx = ./examples/nix/nginx.nix;
            ping = ./examples/nix/ping.nix;
          }
        ) makeTests;
    in
    {
      overlays.default = final: _prev: {
        attest = final.callPackage ./nix/package.nix { src = self; };
      };

      # The make-test functions, and attest's pure Nix logic (builtins only).
      lib = {
        makeTest = makeTests.qemu;
        firecracker.makeTest = makeTests.firecracker;
        cloud-hypervisor.makeTest = makeTests.cloud-hypervisor;
        inherit (import ./nix/lib) network machines config script;
      };

      packages = forAllSystems (pkgs: {
        default = pkgs.attest;
        inherit (pkgs) attest;
        # `nix build .#bench -L`: the seed's backend comparison, one line per backend.
        bench =
          let
            runs = nixpkgs.lib.mapAttrs (
              backend: makeTest:
              import ./examples/nix/bench.nix {
                inherit pkgs backend makeTest;
                inherit (pkgs) attest;
              }
            ) makeTests;
          in
          pkgs.runCommand "attest-bench" { } ''
            grep -hE '^(qemu|firecracker|cloud-hypervisor|fc-snapshot):' \
              ${nixpkgs.lib.concatMapStringsSep " " (run: "${run}/log.txt") (builtins.attrValues runs)} \
              | tee $out
          '';
      });

      checks = forAllSystems (
        pkgs:
        {
          # Build and unit suite.
          inherit (pkgs) attest;
          # The pure Nix logic against its expected values (tests/nix).
          nix-lib =
            let
              result = import ./tests/nix;
            in
            pkgs.runCommand "attest-nix-lib" { } (
              if result.failures == [ ] then
                "echo ${toString result.passed} checks passed > $out"
              else
                throw "attest: tests/nix: ${builtins.toJSON result.failures}"
            );
        }
        // exampleTests pkgs
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ pkgs.attest ];
          packages = [
            pkgs.clang-tools
            pkgs.qemu
            pkgs.vde2
            pkgs.erofs-utils
            pkgs.tesseract
            pkgs.imagemagick
            pkgs.nixfmt
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);
    };
}
