from ganorama.cli import main

raise SystemExit(main())
