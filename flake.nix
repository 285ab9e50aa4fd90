{
  description = "saeta: Arrow from customers' premises to browser dashboards";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.python311 pkgs.rustc pkgs.cargo pkgs.clippy pkgs.maturin
            pkgs.nodejs_20 pkgs.redis pkgs.chromium pkgs.postgresql_15 pkgs.gnumake
            pkgs.unixODBC pkgs.unixODBCDrivers.psql
          ];
        };
      });
      packages = forAll (pkgs: {
        default = pkgs.python311Packages.buildPythonPackage {
          pname = "saeta";
          version = "0.1.0";
          src = ./.;
          pyproject = true;
          cargoDeps = pkgs.rustPlatform.importCargoLock { lockFile = ./relay_ext/Cargo.lock; };
          cargoRoot = "relay_ext";
          nativeBuildInputs = [ pkgs.rustPlatform.cargoSetupHook pkgs.rustPlatform.maturinBuildHook ];
          propagatedBuildInputs = with pkgs.python311Packages; [
            grpcio protobuf pyarrow starlette uvicorn websockets httpx pyjwt cryptography pyyaml redis
          ];
          # The dashboard's assets (web/, npm) are built by `make setup` before this build;
          # without them the gateway answers / with 503 DASHBOARD_NOT_BUILT.
        };
      });
    };
}
