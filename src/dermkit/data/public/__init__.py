"""Readers of public dermatology datasets (HAM10000, ISIC 2019/2020, MedMNIST), registered as data formats."""
