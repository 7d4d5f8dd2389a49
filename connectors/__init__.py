from core.compiled import package_path

__path__ = package_path(__path__, __name__)  # compiled modules first, when built (core/compiled.py)
