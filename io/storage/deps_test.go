package storage

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEmbeddedProgramLinksNoAWSSDK checks that S3 costs nothing to a
// program that does not import io/storage/s3: the quickstart example reads
// and writes local files only, so the AWS SDK must not be among its
// dependencies.
func TestEmbeddedProgramLinksNoAWSSDK(t *testing.T) {
	const program = "github.com/shoal-data/shoal/examples/quickstart"
	// go test puts its own go first on PATH.
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", program).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", program, err, stderr)
	}
	deps := strings.Fields(string(out))
	var aws []string
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/aws/") {
			aws = append(aws, d)
		}
	}
	if len(aws) > 0 {
		t.Errorf("%s links %d AWS packages (%s ...): something it imports pulls in io/storage/s3",
			program, len(aws), aws[0])
	}
	t.Logf("%s: %d packages", program, len(deps))
}
