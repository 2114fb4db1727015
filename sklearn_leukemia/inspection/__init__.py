"""What the model looked at: class-activation heatmaps over the images."""

from sklearn_leukemia.inspection._cam import class_activation_maps, find_cam_layer

__all__ = ["class_activation_maps", "find_cam_layer"]
