from deepfer.apps.cli import main

raise SystemExit(main())
