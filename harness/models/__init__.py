"""Models: the model kinds (family, tabular input) and their builders."""
