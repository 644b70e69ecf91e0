# nixpkgs' nixos/tests/nginx.nix (its shape in 2026), ported by hand to attest: the nodes and the
# testScript's Nix function are as they are in nixpkgs (meta without nixpkgs' maintainer list);
# the script itself is C++, with the Python script's module-level `url` and `check_etag()` in
# attest.testPrelude. docs/nix.md compares the two line by line. Use it with
#   pkgs.testers.runNixOSTest { imports = [ attest.nixosModules.testDriver ./nixpkgs-nginx.nix ]; }
# CI evaluates it (tests/nix/module) and compiles its generated C++ (tests/nix/meson.build).
{
  name = "nginx";

  nodes.webserver =
    { pkgs, lib, ... }:
    {
      services.nginx.enable = true;
      services.nginx.commonHttpConfig = ''
        log_format ceeformat '@cee: {"status":"$status",'
          '"request_time":$request_time,'
          '"upstream_response_time":$upstream_response_time,'
          '"pipe":"$pipe","bytes_sent":$bytes_sent,'
          '"connection":"$connection",'
          '"remote_addr":"$remote_addr",'
          '"host":"$host",'
          '"timestamp":"$time_iso8601",'
          '"request":"$request",'
          '"http_referer":"$http_referer",'
          '"upstream_addr":"$upstream_addr"}';
      '';
      services.nginx.virtualHosts."0.my.test" = {
        extraConfig = ''
          access_log syslog:server=unix:/dev/log,facility=user,tag=mytag,severity=info ceeformat;
          location /favicon.ico { allow all; access_log off; log_not_found off; }
        '';
      };
      services.nginx.virtualHosts.localhost = {
        root = pkgs.runCommand "testdir" { } ''
          mkdir "$out"
          echo hello world > "$out/index.html"
        '';
      };
      services.nginx.enableReload = true;

      specialisation.etagSystem.configuration = {
        services.nginx.virtualHosts.localhost = {
          root = lib.mkForce (
            pkgs.runCommand "testdir2" { } ''
              mkdir "$out"
              echo content changed > "$out/index.html"
            ''
          );
        };
      };
      specialisation.justReloadSystem.configuration = {
        services.nginx.virtualHosts."1.my.test".listen = [
          {
            addr = "127.0.0.1";
            port = 8080;
          }
        ];
      };
      specialisation.reloadRestartSystem.configuration = {
        services.nginx.package = pkgs.nginxUnstable;
      };
      specialisation.reloadWithErrorsSystem.configuration = {
        services.nginx.package = pkgs.nginxUnstable;
        services.nginx.virtualHosts."!@$$(#*%".locations."~@#*$*!)".proxyPass = ";;;";
      };
    };

  attest.testPrelude = ''
    const std::string url = "http://localhost/index.html";

    // The ETag nginx sends for url, after checking that sending it back gives 304.
    std::string check_etag(attest::Machine& webserver) {
      std::string etag =
          webserver.succeed("curl -v " + url + " 2>&1 | sed -n -e 's/^< etag: *//ip'");
      etag.erase(etag.find_last_not_of(" \t\r\n") + 1);
      const std::string http_code = webserver.succeed(
          "curl -w '%{http_code}' --head --fail -H 'If-None-Match: " + etag + "' " + url);
      EXPECT_THAT(http_code, EndsWith("304"));
      return etag;
    }
  '';

  testScript =
    { nodes, ... }:
    let
      etagSystem = "${nodes.webserver.system.build.toplevel}/specialisation/etagSystem";
      justReloadSystem = "${nodes.webserver.system.build.toplevel}/specialisation/justReloadSystem";
      reloadRestartSystem = "${nodes.webserver.system.build.toplevel}/specialisation/reloadRestartSystem";
      reloadWithErrorsSystem = "${nodes.webserver.system.build.toplevel}/specialisation/reloadWithErrorsSystem";
    in
    ''
      webserver.wait_for_unit("nginx");
      webserver.wait_for_open_port(80);

      subtest("check ETag if serving Nix store paths", [&] {
        const auto old_etag = check_etag(webserver);
        webserver.succeed("${etagSystem}/bin/switch-to-configuration test >&2");
        webserver.sleep(1s);
        const auto new_etag = check_etag(webserver);
        EXPECT_NE(old_etag, new_etag);
      });

      subtest("config is reloaded on nixos-rebuild switch", [&] {
        webserver.succeed("${justReloadSystem}/bin/switch-to-configuration test >&2");
        webserver.wait_for_open_port(8080);
        webserver.fail("journalctl -u nginx | grep -q -i stopped");
        webserver.succeed("journalctl -u nginx | grep -q -i reloaded");
      });

      subtest("restart when nginx package changes", [&] {
        webserver.succeed("${reloadRestartSystem}/bin/switch-to-configuration test >&2");
        webserver.wait_for_unit("nginx");
        webserver.succeed("journalctl -u nginx | grep -q -i stopped");
      });

      subtest("nixos-rebuild --switch should fail when there are configuration errors", [&] {
        webserver.fail("${reloadWithErrorsSystem}/bin/switch-to-configuration test >&2");
        webserver.succeed("[[ $(systemctl is-failed nginx-config-reload) == failed ]]");
        webserver.succeed("[[ $(systemctl is-failed nginx) == active ]]");
        // just to make sure operation is idempotent. During development I had a situation
        // when first time it shows error, but stops showing it on subsequent rebuilds
        webserver.fail("${reloadWithErrorsSystem}/bin/switch-to-configuration test >&2");
      });
    '';
}
