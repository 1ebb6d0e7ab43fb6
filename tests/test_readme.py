"""What the README shows as a file's content is that file's content."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_readme_shows_the_pipeline_script_as_it_is():
    script = (REPO / "examples" / "ecs-api" / "pipeline.sh").read_text()
    assert f"```bash\n{script}```\n" in (REPO / "README.md").read_text()
