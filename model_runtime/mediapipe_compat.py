"""Let mediapipe 0.10.21's compiled bindings run on protobuf 6 without an error at import.

The bindings call ``MessageFactory().GetPrototype`` while they load; protobuf 5 removed
that method in favour of ``message_factory.GetMessageClass`` (same result), so every
``import mediapipe`` printed an AttributeError. We pin protobuf 6 because onnx needs
it, and mediapipe's face mesh otherwise works on it (measured). Restoring the one
method as an alias is the smallest adapter; it is installed once, before mediapipe
is first imported (model_runtime/__init__.py), and only where the method is missing.
"""
from google.protobuf import message_factory


def install() -> None:
    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = (
            lambda self, descriptor: message_factory.GetMessageClass(descriptor))
