"""Models: timm backbones by name, dermkit heads, and ``create_model``."""

from dermkit.models.backbones import create_backbone
from dermkit.models.factory import Classifier, create_model
from dermkit.models.heads import HEADS, create_head

__all__ = ["HEADS", "Classifier", "create_backbone", "create_head", "create_model"]
