# Sourced by the lent-GPU scripts (small_gpu.sh, posttrain_gpu.sh) after they set $out:
# the environment, $py, and the machine's versions in $out/versions.txt.
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  "$py" -c "import torch, transformers, deepspeed; print('torch', torch.__version__, 'transformers', transformers.__version__, 'deepspeed', deepspeed.__version__)"
} 2>&1 | tee "$out/versions.txt"
