"""`python -m earthgptx_hf.app --model DIR_OR_HUB_ID`: the same as `earthgptx-app`."""

import sys

from .cli import main

sys.exit(main())
