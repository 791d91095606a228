from ml.encoders.registry import EncoderSpec, choose_device, default_base_model_path, load_encoder, resolve_base_model

__all__ = ["EncoderSpec", "choose_device", "default_base_model_path", "load_encoder", "resolve_base_model"]
