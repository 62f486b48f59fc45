import Foundation
import PatchworkTesting
import Testing

extension EndToEnd {
    /// The deployment files only set variables the executables read, and the Kubernetes
    /// manifests are well-formed YAML naming files that exist.
    @Suite struct DeployConfig {
        static let deploy = TestPaths.fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("deploy")

        static func variables(in text: String) -> Set<String> {
            let regex = try! NSRegularExpression(pattern: "PATCHWORK_[A-Z_]+")
            return Set(regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) })
        }

        @Test(arguments: [
            ("kubernetes/router.yaml", "patchwork-router", ["--help"]),
            ("kubernetes/worker.yaml", "patchwork-worker", ["help", "serve"]),
            ("kubernetes/frontend.yaml", "patchwork-frontend", ["--help"]),
            ("systemd/router.env", "patchwork-router", ["--help"]),
            ("systemd/worker.env", "patchwork-worker", ["help", "serve"]),
            ("systemd/frontend.env", "patchwork-frontend", ["--help"]),
        ])
        func filesSetOnlyVariablesTheProcessesRead(file: String, executable: String, help: [String]) async throws {
            let text = try String(contentsOf: Self.deploy.appendingPathComponent(file), encoding: .utf8)
            let used = Self.variables(in: text)
            let known = Self.variables(in: try await ProgramRun.run(TestPaths.binaries.appendingPathComponent(executable).path, help, timeout: .seconds(30)).output)
            #expect(!used.isEmpty && !known.isEmpty)
            #expect(used.subtracting(known).isEmpty, "\(file) sets variables \(executable) does not read: \(used.subtracting(known).sorted())")
        }

        @Test func kubernetesManifestsParse() async throws {
            let folder = Self.deploy.appendingPathComponent("kubernetes")
            let script = """
            import sys, yaml, os
            folder = sys.argv[1]
            kustomization = yaml.safe_load(open(os.path.join(folder, "kustomization.yaml")))
            kinds = []
            for name in kustomization["resources"] + ["example-adapter.yaml"]:
                for doc in yaml.safe_load_all(open(os.path.join(folder, name))):
                    kinds.append(doc["kind"])
            print(" ".join(sorted(set(kinds))))
            """
            let output = try await ProgramRun.run(TestPaths.python, ["-c", script, folder.path], timeout: .seconds(60)).output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(output == "CustomResourceDefinition Deployment PatchworkAdapter PersistentVolumeClaim Role RoleBinding Service ServiceAccount StatefulSet")
            let crd = try String(contentsOf: folder.appendingPathComponent("crd-patchworkadapter.yaml"), encoding: .utf8)
            // What the router's controller asks the API for.
            #expect(crd.contains("group: patchwork.dev") && crd.contains("name: v1alpha1") && crd.contains("plural: patchworkadapters"))
        }
    }
}
