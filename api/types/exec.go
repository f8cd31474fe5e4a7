package types

// Docker's exec and container-lifecycle wire types.

// ExecCreateRequest is the body of POST /containers/{id}/exec.
type ExecCreateRequest struct {
	User         string     `json:"User"`
	Privileged   bool       `json:"Privileged"`
	Tty          bool       `json:"Tty"`
	ConsoleSize  *[2]uint16 `json:"ConsoleSize"` // rows, columns
	AttachStdin  bool       `json:"AttachStdin"`
	AttachStdout bool       `json:"AttachStdout"`
	AttachStderr bool       `json:"AttachStderr"`
	Detach       bool       `json:"Detach"`
	DetachKeys   string     `json:"DetachKeys"`
	Env          []string   `json:"Env"`
	WorkingDir   string     `json:"WorkingDir"`
	Cmd          []string   `json:"Cmd"`
}

// IDResponse is Docker's {"Id"} reply.
type IDResponse struct {
	ID string `json:"Id"`
}

// ExecStartRequest is the body of POST /exec/{id}/start.
type ExecStartRequest struct {
	Detach      bool       `json:"Detach"`
	Tty         bool       `json:"Tty"`
	ConsoleSize *[2]uint16 `json:"ConsoleSize"`
}

// ExecInspect is the reply to GET /exec/{id}/json.
type ExecInspect struct {
	ID            string            `json:"ID"`
	Running       bool              `json:"Running"`
	ExitCode      *int              `json:"ExitCode"`
	ProcessConfig ExecProcessConfig `json:"ProcessConfig"`
	OpenStdin     bool              `json:"OpenStdin"`
	OpenStderr    bool              `json:"OpenStderr"`
	OpenStdout    bool              `json:"OpenStdout"`
	CanRemove     bool              `json:"CanRemove"`
	ContainerID   string            `json:"ContainerID"`
	DetachKeys    string            `json:"DetachKeys"`
	Pid           int               `json:"Pid"`
}

// ExecProcessConfig is the command of an exec instance.
type ExecProcessConfig struct {
	Tty        bool     `json:"tty"`
	Entrypoint string   `json:"entrypoint"`
	Arguments  []string `json:"arguments"`
	Privileged bool     `json:"privileged"`
	User       string   `json:"user"`
}

// WaitResponse is the reply to POST /containers/{id}/wait.
type WaitResponse struct {
	StatusCode int        `json:"StatusCode"`
	Error      *WaitError `json:"Error"`
}

// WaitError says why a wait failed.
type WaitError struct {
	Message string `json:"Message"`
}

// Media types of hijacked and log streams.
const (
	MediaRawStream         = "application/vnd.docker.raw-stream"
	MediaMultiplexedStream = "application/vnd.docker.multiplexed-stream"
)

// RestartPolicy is a sandbox's restart policy, as Docker shows it.
type RestartPolicy struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}
