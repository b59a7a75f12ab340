"""prepare_run: demos, reward model and world model into one run folder; a rerun skips what exists."""
from worldsample.commands.prepare_run import main


def test_prepares_a_run_folder_and_prints_the_launch_commands(tmp_path, capsys):
    out = tmp_path / 'run'
    args = ['--out', str(out), '--demos', '2', '--reward-episodes', '5', '--world-model-steps', '2']
    assert main(args) == 0
    for product in ('demos/demos.npz', 'reward_model/held_out.json', 'world_model/world_model.safetensors'):
        assert (out / product).is_file(), product
    text = capsys.readouterr().out
    assert 'world_model:=' in text and 'world_model_size:=tiny' in text and 'HIL-SERL baseline' in text
    assert main(args) == 0
    assert capsys.readouterr().out.count('exists, skipped') == 3
