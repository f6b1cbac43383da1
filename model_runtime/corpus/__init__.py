"""The synthetic talking-face corpus (`avatar corpus`); see docs/CORPUS.md.

build (plan, splits, workers) -> clip (timeline, audio, behaviour) -> render
(geometry, draw_static, draw_features, paint) and writer; speech and visemes
on espeak-ng (espeak); reader reads a corpus; from_videos (with haar) imports
real videos; timing and sheet are inspection tools.
"""
