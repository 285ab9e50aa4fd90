{
  description = "saeta: Arrow from customers' premises to browser dashboards";

  # nixos-unstable: nixos-24.11's grpcio and protobuf are below the floors pyproject.toml
  # declares (tests/system/test_install.py runs them). buildPythonPackage's runtime-deps
  # check refuses a nixpkgs whose packages are older than those floors, loudly.
  # flake.lock is not committed yet: this machine cannot reach GitHub to lock nixpkgs
  # (docs/install.md, "Nix").
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # The dependency names come from pyproject.toml itself (nix/pyproject-deps.nix), so
      # the flake cannot drift from it.
      deps = import ./nix/pyproject-deps.nix;

      # The dashboard's assets, from web/package-lock.json's own integrity hashes
      # (importNpmLock: no aggregate hash to keep up to date).
      web = pkgs: pkgs.buildNpmPackage {
        pname = "saeta-web";
        version = deps.version;
        src = ./web;
        npmDeps = pkgs.importNpmLock { npmRoot = ./web; };
        npmConfigHook = pkgs.importNpmLock.npmConfigHook;
        npmBuildScript = "build";
        env.SAETA_STATIC_OUT = "static";
        installPhase = ''
          runHook preInstall
          mkdir -p $out
          cp -r static/. $out/
          runHook postInstall
        '';
      };

      # The wheel: the Rust extension from relay_ext/Cargo.lock (maturin), the assets above.
      saeta = pkgs:
        let py = pkgs.python311Packages;
        in py.buildPythonPackage {
          pname = "saeta";
          version = deps.version;
          src = ./.;
          pyproject = true;
          cargoDeps = pkgs.rustPlatform.importCargoLock { lockFile = ./relay_ext/Cargo.lock; };
          cargoRoot = "relay_ext";
          nativeBuildInputs = [ pkgs.rustPlatform.cargoSetupHook pkgs.rustPlatform.maturinBuildHook ];
          preBuild = ''
            mkdir -p python/saeta/gateway/static
            cp -r ${web pkgs}/. python/saeta/gateway/static/
          '';
          dependencies = map (name: py.${name}) deps.core;
          optional-dependencies = builtins.mapAttrs (_: names: map (name: py.${name}) names) deps.extras;
          pythonImportsCheck = [ "saeta" "saeta._relay" "saeta.gateway.app" ];
        };
    in {
      packages = forAll (pkgs: {
        default = saeta pkgs;
        web = web pkgs;
      });
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.python311 pkgs.rustc pkgs.cargo pkgs.clippy pkgs.maturin pkgs.zig
            pkgs.nodejs_20 pkgs.redis pkgs.haproxy pkgs.chromium pkgs.postgresql_15 pkgs.gnumake
            pkgs.unixODBC pkgs.unixODBCDrivers.psql pkgs.jdk17_headless pkgs.maven
          ];
        };
      });
    };
}
