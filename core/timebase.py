"""The one clock of the whole system: 16 kHz mono audio, 25 video frames per second.

Audio is the master clock. Video frame ``n`` shows audio samples
``[n * SAMPLES_PER_FRAME, (n + 1) * SAMPLES_PER_FRAME)``, i.e. seconds
``[n * FRAME_S, (n + 1) * FRAME_S)``. Every module (engine, nodes, corpus,
evaluation, CLI) imports these; none restates them.
"""
SAMPLE_RATE = 16000                       # Hz; all audio is resampled to this at the boundary
FPS = 25                                  # video frames per second
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS    # 640 audio samples per video frame
FRAME_S = 1.0 / FPS                       # 0.04 s per video frame
