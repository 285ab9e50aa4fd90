# saeta's Python dependencies as pyproject.toml declares them, read by Nix itself (no
# nixpkgs needed: tests/test_flake.py evaluates this file offline): the core's names, and
# each extra's, lowercased and normalized the way nixpkgs names its Python packages.
let
  project = (builtins.fromTOML (builtins.readFile ../pyproject.toml)).project;
  # "grpcio>=1.85.1" -> "grpcio"; "PyJWT>=2.10" -> "pyjwt"; "pywin32>=306; sys_platform == 'win32'" -> "pywin32"
  nameOf = requirement:
    let
      m = builtins.match "([A-Za-z0-9][A-Za-z0-9._-]*).*" requirement;
      raw = builtins.head m;
    in
    builtins.replaceStrings [ "_" "." ] [ "-" "-" ] (builtins.replaceStrings
      [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
      [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ]
      raw);
  windowsOnly = requirement: builtins.match ".*sys_platform *== *'win32'.*" requirement != null;
  selfReference = requirement: builtins.match "saeta\\[.*" requirement != null;
  namesOf = requirements: map nameOf (builtins.filter (r: !(windowsOnly r) && !(selfReference r)) requirements);
  extras = builtins.removeAttrs project.optional-dependencies [ "dev" "all" ];
in
{
  version = project.version;
  core = namesOf project.dependencies;
  extras = builtins.mapAttrs (_: namesOf) extras;
}
