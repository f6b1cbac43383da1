"""Human-readable table of an evaluate_video result (the --json output is the dict itself)."""


def _f(value, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _lag_row(name: str, res: dict | None) -> str:
    if res is None:
        return f"  {name:<28} n/a"
    return f"  {name:<28} r {_f(res['r'])}  lag {res['lag']:+d}  (r at lag 0: {_f(res['r_lag0'])})"


def format_table(result: dict) -> str:
    sync, still, expr = result["sync"], result["stillness"], result["expression"]
    drift, flick = result["drift"], result["flicker"]
    lines = [f"video: {result['n_frames']} frames, {result['duration_s']:.1f} s at {result['fps']} fps",
             "lip sync (estimated mouth aperture):",
             _lag_row("vs ground-truth aperture", sync["gt"]),
             _lag_row("vs audio loudness", sync["audio"]),
             _lag_row("(gt aperture vs audio)", sync["gt_vs_audio"])]
    if still is None:
        lines.append("mouth stillness: n/a")
    else:
        lines += [f"mouth stillness (mean |d aperture| per frame, states from {still['source']}):",
                  f"  speaking {_f(still['speaking_motion'], '.4f')}",
                  f"  listening {_f(still['listening_motion'], '.4f')}  "
                  f"ratio to speaking {_f(still['listening_ratio'])}",
                  f"  idle {_f(still['idle_motion'], '.4f')}  ratio to speaking {_f(still['idle_ratio'])}"]
    lines.append("expression efficacy (r commanded vs measured):")
    if expr is None:
        lines.append("  n/a")
    else:
        lines.append(f"  mean r {_f(expr['r_mean'])}  (ground-truth parameters: {_f(expr['r_mean_gt'])})")
        lines += [f"  {name:<12} {_f(r)}" + ("  (not in the mean: unreliable estimate)" if name in expr["untrusted"] else "")
                  for name, r in expr["per_control"].items() if r is not None]
    lines += [f"drift (first vs last {drift['window_s']:.1f} s): similarity {_f(drift['similarity'])}",
              f"  colour {_f(drift['colour'])}  appearance {_f(drift['appearance'])}  "
              f"sharpness ratio {_f(drift['sharpness_ratio'])}  identity {_f(drift['identity'])}",
              f"  identity vs reference: first {_f(drift['identity_ref_first'])}  "
              f"last {_f(drift['identity_ref_last'])}",
              f"temporal flicker: high-frequency {_f(flick['temporal_hf'], '.2f')}  "
              f"frame difference {_f(flick['frame_diff'], '.2f')} (grey levels)"]
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)
