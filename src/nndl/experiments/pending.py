"""Experiments that need features not yet in the library.

They are listed so that ``nndl reproduce --list`` shows the whole chapter;
each becomes a module like the others once its feature lands.  Every
experiment of the chapter is runnable now, so the list is empty.
"""

EXPERIMENTS = ()
