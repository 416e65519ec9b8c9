"""The reliability bench (`bench/reliability.py`), one job per module.

bench.py holds the work folder, the subprocesses and the table of cases; checks.py turns a result
into a verdict; corpus.py, zips.py and damage.py make the hostile input; one module per class of
cases (images, wording, special_files, run_folders, full_disk, limits) runs it through the studio;
children.py is what runs inside the studio's own modules in child processes; report.py prints the
tables; run.py puts it together. The script is the entry point, and the children re-invoke it.
"""
import sys

from common import ROOT

if str(ROOT / "tests") not in sys.path:  # imagegen: the tests' own image and zip writers
    sys.path.insert(0, str(ROOT / "tests"))
