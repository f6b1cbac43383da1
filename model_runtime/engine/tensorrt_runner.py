"""TensorRT engine building and execution (imported only when TensorRT is used).

Written against the TensorRT 10 Python API (tensor-name based I/O,
``execute_async_v3``). Device buffers are torch CUDA tensors, so no pycuda is
needed, and each runner enqueues on the current torch CUDA stream, which lets
the engine give every pipeline stage its own stream. NOT exercised in this
project's CI: no GPU is available here (see docs/ENGINE.md).
"""
from pathlib import Path

import torch

_TORCH_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "INT64": torch.int64,
                 "INT32": torch.int32, "BF16": torch.bfloat16}


def build_engine(trt, onnx_path: Path, precision: str, max_t: int) -> bytes:
    """Parse ONNX and build a serialized engine with optimisation profiles over T / N."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = list(tensor.shape)
        lo, opt, hi = ([1 if d == -1 else d for d in shape], [4 if d == -1 else d for d in shape],
                       [max_t if d == -1 else d for d in shape])
        profile.set_shape(tensor.name, lo, opt, hi)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    return bytes(serialized)


class TensorRTRunner:
    def __init__(self, plan: Path):
        import tensorrt as trt

        if not plan.is_file():
            raise FileNotFoundError(f"{plan} not found: run `avatar export --tensorrt` first")
        self._trt = trt
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(plan.read_bytes())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) != mode]

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        stream = torch.cuda.current_stream()
        for name, x in zip(self.inputs, inputs):
            want = _TORCH_DTYPES[self.engine.get_tensor_dtype(name).name]
            x = x.to("cuda", want).contiguous()
            self.context.set_input_shape(name, tuple(x.shape))
            self.context.set_tensor_address(name, x.data_ptr())
            setattr(self, f"_keep_{name}", x)      # keep the buffer alive until the stream runs
        out_name = self.outputs[0]
        shape = tuple(self.context.get_tensor_shape(out_name))
        out = torch.empty(shape, dtype=_TORCH_DTYPES[self.engine.get_tensor_dtype(out_name).name], device="cuda")
        self.context.set_tensor_address(out_name, out.data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        return out.float()
