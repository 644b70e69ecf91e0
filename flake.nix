{
  description = "attest: NixOS-style VM integration tests written in C++ (QEMU, Firecracker, cloud-hypervisor)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      # The package and QEMU tests work on both; Firecracker and cloud-hypervisor nodes boot the
      # x86-64 ELF kernel (vmlinux), so their tests are offered on x86_64-linux only.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      microvmSystems = [ "x86_64-linux" ];
      forAllSystems =
        f:
        lib.genAttrs systems (
          system:
          f (
            import nixpkgs {
              inherit system;
              overlays = [ self.overlays.default ];
            }
          )
        );

      # Only what the package is built from: an edit of the docs or the Nix files rebuilds nothing.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions (map (path: ./. + "/${path}") (import ./nix/source-files.nix));
      };

      # The examples (test modules, examples/nix/) on each backend: nginx-qemu, ping-firecracker, ...
      examples = {
        nginx = ./examples/nix/nginx.nix;
        ping = ./examples/nix/ping.nix;
        bench = ./examples/nix/bench.nix;
      };
      backends = [
        "qemu"
        "firecracker"
        "cloud-hypervisor"
      ];
      exampleTest =
        pkgs: example: backend:
        self.lib.runTest pkgs {
          imports = [ examples.${example} ];
          name = lib.mkForce "${example}-${backend}";
          attest.backend = backend;
        };
      exampleTests =
        pkgs: names: backends:
        lib.listToAttrs (
          lib.concatMap (
            example:
            map (backend: {
              name = "${example}-${backend}";
              value = exampleTest pkgs example backend;
            }) backends
          ) names
        );
      microvmOn = pkgs: lib.elem pkgs.stdenv.hostPlatform.system microvmSystems;
    in
    {
      overlays.default = final: _prev: {
        attest = final.callPackage ./nix/package.nix { inherit src; };
      };

      # attest's driver for nixpkgs' test framework:
      #   pkgs.testers.runNixOSTest { imports = [ attest.nixosModules.testDriver ]; ... }
      # The attest package is built with the test's own nixpkgs (one GoogleTest, one compiler).
      nixosModules.testDriver =
        { lib, hostPkgs, ... }:
        {
          imports = [ ./nix/testing/module.nix ];
          attest.package = lib.mkDefault (hostPkgs.callPackage ./nix/package.nix { inherit src; });
        };

      lib = {
        # `attest.lib.runTest pkgs { name; nodes; testScript; ... }`: runNixOSTest with the module.
        runTest =
          pkgs: module:
          pkgs.testers.runNixOSTest {
            imports = [
              self.nixosModules.testDriver
              module
            ];
          };
        # The seed's call form (nix/make-test.nix).
        makeTest = import ./nix/make-test.nix;
        firecracker.makeTest = import ./nix/firecracker/make-test.nix;
        cloud-hypervisor.makeTest = import ./nix/cloud-hypervisor/make-test.nix;
        # attest's pure Nix logic (builtins only).
        inherit (import ./nix/lib)
          network
          machines
          config
          script
          ;
      };

      packages = forAllSystems (
        pkgs:
        {
          default = pkgs.attest;
          inherit (pkgs) attest;
        }
        // lib.optionalAttrs (microvmOn pkgs) {
          # `nix build .#bench -L`: the seed's backend comparison, one line per backend.
          bench =
            let
              runs = map (backend: exampleTest pkgs "bench" backend) backends;
            in
            pkgs.runCommand "attest-bench" { } ''
              grep -hE '^(qemu|firecracker|cloud-hypervisor|fc-snapshot):' \
                ${lib.concatMapStringsSep " " (run: "${run}/log.txt") runs} | tee $out
            '';
        }
      );

      # What a stock builder with the `kvm` and `nixos-test` features runs (`nix flake check`):
      # the package, the pure Nix logic, and the examples that need nothing more. The examples with
      # a network on Firecracker or cloud-hypervisor need /dev/net/tun in the sandbox
      # (docs/nix.md): they are in legacyPackages.<system>.tapTests.
      checks = forAllSystems (
        pkgs:
        {
          inherit (pkgs) attest;
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
        // exampleTests pkgs [ "nginx" "ping" "bench" ] [ "qemu" ]
        // lib.optionalAttrs (microvmOn pkgs) (
          exampleTests pkgs [ "bench" ] [
            "firecracker"
            "cloud-hypervisor"
          ]
        )
      );

      legacyPackages = forAllSystems (pkgs: {
        tapTests = lib.optionalAttrs (microvmOn pkgs) (
          exampleTests pkgs [ "nginx" "ping" ] [
            "firecracker"
            "cloud-hypervisor"
          ]
        );
      });

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
