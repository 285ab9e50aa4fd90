from saeta.cli import main

raise SystemExit(main())
