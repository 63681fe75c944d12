from deepfer.cli import main

raise SystemExit(main())
