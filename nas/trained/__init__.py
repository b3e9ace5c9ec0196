"""Analyses of trained networks: harness checkpoints, attention ablation by depth, attention maps.

No Optuna, no Ray: these read one network (a released checkpoint or one saved by ``nas train --save``) and a
folder of images, and evaluate with the protocol of ``nas.sr``.
"""
