"""train_sim's real-synthetic options: missing models are named before anything runs."""
import pytest

from worldsample.commands.train_sim import main


def test_synthetic_options_need_their_models(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(['--synthetic', 'oracle'])                                   # no --reward-model
    assert '--synthetic needs --reward-model' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--synthetic', 'model', '--reward-model', str(tmp_path)])   # no --world-model
    out = tmp_path / 'out'
    assert main(['--synthetic', 'oracle', '--reward-model', str(tmp_path / 'none'), '--out', str(out)]) == 2
    assert 'lacks encoder.npz' in capsys.readouterr().err and not out.exists()
