import sys

if sys.argv[1:2] == ["run"]:
    from .run import main as run_main

    sys.exit(run_main(sys.argv[2:]))

from .controller import main

sys.exit(main())
