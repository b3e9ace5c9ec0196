"""Trained networks: harness checkpoints and released weights, a space's trained parent, ``nas train``'s training
and saving of one genotype (``saved_training``), a trained network run on a folder of images (``analyses``: its
evaluation, attention ablation by depth, attention maps), their figures, and export.

No Optuna, no Ray: these read one network (a released checkpoint or one saved by ``nas train --save``) and a
folder of images, and evaluate with the protocol of ``nas.sr``.
"""
